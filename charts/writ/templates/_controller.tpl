{{- /* writ.controller.enabled: writ-controller has work: audit, sealing, the fallback's break-glass grants or self-managed webhook certificates. */ -}}
{{- define "writ.controller.enabled" -}}
{{- if or .Values.audit.enabled .Values.sealing.enabled .Values.guardFallback.enabled (and .Values.webhook.enabled (eq .Values.webhook.tls.mode "self-managed")) }}true{{ end }}
{{- end }}
