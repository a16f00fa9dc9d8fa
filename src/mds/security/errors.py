"""Errors raised by the security layer."""


class SecurityError(Exception):
    """Base class for security failures."""


class DecryptionError(SecurityError):
    """A ciphertext could not be authenticated: wrong key, wrong row, or tampered bytes."""


class UnknownKeyError(SecurityError):
    """A ciphertext names a data key the keyring does not hold."""


class KeyFileError(SecurityError):
    """The local key file is missing, unreadable, malformed or too widely readable."""
