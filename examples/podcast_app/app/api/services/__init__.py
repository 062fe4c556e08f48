"""Application services behind the routers."""
