"""Operating kaimen: what an operator (or a load balancer) asks of a running installation."""
