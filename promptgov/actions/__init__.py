"""Governance actions: one module per action, each reading as its steps.

Every action takes the person as ``by=`` and its options as one frozen dataclass, and
writes through :meth:`promptgov.repo.Repo.edit`, the store's single unit of work. The
CLI and the server are thin shells over these functions.
"""
