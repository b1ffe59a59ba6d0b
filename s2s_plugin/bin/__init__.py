"""Command-line verbs of ``s2s``: one module per verb.

A verb module defines ``COMMAND`` (its name on the command line), ``HELP``
(one line), ``add_arguments(parser)`` and ``main(args) -> int | None``. Heavy
imports belong inside ``main`` so that ``s2s --help`` stays fast.
"""
