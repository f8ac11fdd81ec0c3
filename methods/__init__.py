"""Method implementations for vidbench; each uses only vidbench.contracts and vidbench.messages."""
