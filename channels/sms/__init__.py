"""SMS through a gateway's HTTP API: segment counting (``segments``), the gateway-neutral part of an adapter
(``gateway``) and one module or folder per gateway (SMSC.ru: ``smsc``). docs/channels-sms.md."""
