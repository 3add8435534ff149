"""Text in, token ids out: reading text, the vocabulary, named corpora and their download,
and cutting ids into the N streams of stateful truncated BPTT."""
