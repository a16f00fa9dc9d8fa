import pytest
from pydantic import BaseModel

from mds.api.openapi import schema_ref, with_models


class Address(BaseModel):
    street: str


class Contact(BaseModel):
    address: Address


def test_a_model_and_what_it_refers_to_are_added_to_the_components() -> None:
    document = with_models({"paths": {}}, [Contact])
    schemas = document["components"]["schemas"]
    assert set(schemas) == {"Contact", "Address"}
    assert schemas["Contact"]["properties"]["address"] == schema_ref(Address)


def test_two_different_schemas_under_one_name_are_refused() -> None:
    taken = {"components": {"schemas": {"Address": {"type": "string"}}}}
    with pytest.raises(ValueError, match="named Address"):
        with_models(taken, [Contact])
