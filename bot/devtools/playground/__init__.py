"""The playground: the whole product on one machine, in a browser."""
