"""``python -m sieve``: the ``sieve`` command, for launchers that start a module rather than a script
(``torchrun --nproc_per_node 2 -m sieve train DATA -o OUT``, see docs/scale.md)."""

from sieve.cli import entry

entry()
