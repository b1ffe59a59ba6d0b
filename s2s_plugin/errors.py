"""Exceptions raised for bad user input (configs, plugins, data).

Each carries a message meant for the person running the toolkit: it names the
file, key, line or utterance at fault and says what to do. The command-line
entry point prints them without a traceback.
"""


class S2SError(Exception):
    """Base class for errors caused by user input rather than a bug."""


class ConfigError(S2SError, ValueError):
    """A configuration file or override is invalid."""


class PluginError(S2SError, LookupError):
    """A plugin is unknown, registered twice, or given arguments it does not take."""


class DataError(S2SError, ValueError):
    """A data file (scp, text, CTM, units) is malformed or inconsistent."""


class StageError(S2SError, RuntimeError):
    """A recipe stage cannot start: an input stage did not complete, or its result is out of date."""
