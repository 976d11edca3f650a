"""Development tools, never imported by the product: the stand-ins and the playground."""
