"""Errors raised for bad user input; each message names the bad field or file."""


class ConfigError(ValueError):
    """A configuration value is unknown, out of range or contradicts another."""


class DataError(ValueError):
    """A dataset is missing, malformed, or holds values the likelihood cannot take."""
