"""Files rnnlm itself needs at run time (installed as the package ``rnnlm.resources``).

``corpora.json`` is the registry of named corpora: where each file comes from and its sha256.
The corpora themselves are never stored here; they are downloaded into the data directory.
"""
