"""Use cases. Each receives its collaborators (session factory, keyring, clock) explicitly."""
