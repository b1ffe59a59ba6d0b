"""s2s_plugin: LLM-based speech-to-speech translation with scheduled interleaving.

Run ``s2s --help`` for the command-line verbs, ``s2s plugins`` for the
registered components. Third-party plugins decorate their hook functions with
:data:`hookimpl` and declare the entry-point group ``s2s_plugin``::

    from s2s_plugin import hookimpl

    @hookimpl
    def register_interleave_schedulers():
        return [MyScheduler]
"""
import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations (project name ``s2s_plugin``).
hookimpl = pluggy.HookimplMarker("s2s_plugin")

__all__ = ["hookimpl", "__version__"]
