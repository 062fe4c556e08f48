"""dispatch: the sanctioned path for background work on Google Cloud Tasks."""

__all__: list[str] = []
