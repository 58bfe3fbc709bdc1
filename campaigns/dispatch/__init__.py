"""Dispatch: draining a launched campaign's message rows to its sender's provider, exactly once.

The life of a message row (``campaigns.models.Message``), and who moves it:

``queued``            made by the launch, or put back for a retry (``attempts`` > 0, ``not_before`` = the
                      backoff's end); due when ``not_before`` is empty or past.
``queued`` + lease    claimed by a batch (``lease_owner``, ``lease_until``): the request has not left. A
                      lease that ran out makes the row claimable again, nothing else.
``deferred``          outside the recipient's send window, or over the messaging tier: due at ``not_before``.
``sending`` + lease   passed the re-checks at send time; the request may leave at any moment. ``sent_at`` is
                      that moment, so caps and tiers count it while it is in flight. When the lease runs out
                      (the worker died) the recovery job sends it again with the same key on an idempotent
                      channel, and makes it ``unknown`` on any other.
``sent``              the provider accepted it (``provider_message_id``, ``sent_at``).
``delivered``/``read`` statuses from the provider (the webhook of the next issue), forward only.
``failed``            a permanent failure (``error_code``, ``error_message``, ``failed_at``), retries used up,
                      or an ``unknown`` row no status settled in time (code ``unknown_outcome``).
``skipped``           the re-check at send time said no (``error_code``: ``opted_out``, ``blocked``,
                      ``no_consent``, ``frequency_cap``, ``time_zone``, ``channel_rule``), or the campaign was cancelled
                      (``cancelled``).
``unknown``           sent or not, we cannot tell: settled by a status carrying its key (``settle``).
"""
