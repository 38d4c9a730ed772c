"""Running the image at scale: the Compose project or swarm stack behind HAProxy, the scale
scenarios, the load balancer's image, and the Kubernetes manifests."""
