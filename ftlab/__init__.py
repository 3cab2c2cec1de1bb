"""ftlab: the helper package of a tested, offline-first fine-tuning curriculum.

Importing ftlab has no side effects; import the functions a lesson needs from its modules,
e.g. ``from ftlab.train import fit``.
"""
__version__ = "0.1.0"
