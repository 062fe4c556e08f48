"""Task endpoints and the code that runs them."""
