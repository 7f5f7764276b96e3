"""One error family: every mistake a user can make surfaces as a `BtmError` subclass whose
message names the file, row, column or setting at fault and how to fix it."""


class BtmError(Exception):
    """Base of every error the product reports to a user."""


class ConfigurationError(BtmError):
    """A setting, catalogue, rubric or suite file is wrong."""


class EvidenceError(BtmError):
    """An evidence file cannot be read as the kind it claims to be."""


class ValidationError(BtmError):
    """Evidence broke a rule of its expectation suite."""


class DeliveryError(BtmError):
    """A report could not be written to the outbox or sent through SMTP."""
