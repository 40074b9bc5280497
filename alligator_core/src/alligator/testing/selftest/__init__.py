"""The kit's own proof: it passes a correct backend and fails broken ones.

:mod:`~alligator.testing.selftest.reference` holds a small, plainly correct
backend of the whole contract and variants of it that each break one rule;
``test_kit.py`` runs :class:`~alligator.testing.BackendContract` against all
of them and checks the kit tells them apart.
"""
