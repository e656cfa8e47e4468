"""The demo: a seeded tenant with a week of history, connected to the sandbox, fed a trickle of events.

``python -m demo seed`` seeds the database; ``python -m demo sandbox`` serves the sandbox with
the trickle; ``python -m demo connect`` connects a tenant to the sandbox's vendors. The demo may
import ``db``, ``integrations``, ``sandbox`` and ``settings``; nothing of the product imports it.
"""
