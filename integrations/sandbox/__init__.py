"""Offline emulators of the vendors Zixly talks to (``python -m integrations.sandbox``).

See :mod:`integrations.sandbox.app` for the app factory and the ``/_sandbox`` controls, and
:mod:`integrations.sandbox.control` for what vendor emulators share.
"""
