"""radkit: similar-case search (RadIR) and diagnostic reasoning (ChestX-Reasoner) for chest X-ray and CT.

Heavy submodules (torch, Lightning, transformers) are imported lazily so that
`import radkit` and `radkit --help` stay fast.
"""

from radkit._version import __version__

__all__ = ["__version__"]
