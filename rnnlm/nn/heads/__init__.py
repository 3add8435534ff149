"""Output layers: hidden states -> next-token scores and the loss (full or class softmax)."""
