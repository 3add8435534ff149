"""Recurrent cells: time layers that carry a state from one window to the next."""
