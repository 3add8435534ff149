"""Using a trained model: perplexity, dynamic evaluation, sampling and n-gram baselines."""
