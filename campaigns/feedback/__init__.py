"""The feedback loop: what providers and recipients tell us after a message leaves.

Webhook intake (durable before the acknowledgement), batched processing in workers, delivery statuses,
replies and opt-outs, blocks, template and number-quality updates, the quality circuit breaker, the
reply inbox, notifications for reviewers, and campaign analytics.
"""
