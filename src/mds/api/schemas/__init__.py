"""Response and request bodies of the API, as published in the OpenAPI document."""
