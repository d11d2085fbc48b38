"""The parts of the platform (Apache OpenWhisk, as DigitalOcean Functions runs it) that IMS plays itself
wherever no platform does: the invoke API that chains one function to another (activations), the
scheduled triggers (cron, and ping for an outside scheduler's calls) and web-secure (websecure)."""
