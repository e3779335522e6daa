{{- /* writ.controller.enabled: writ-controller has work: audit, sealing or self-managed webhook certificates. */ -}}
{{- define "writ.controller.enabled" -}}
{{- if or .Values.audit.enabled .Values.sealing.enabled (and .Values.webhook.enabled (eq .Values.webhook.tls.mode "self-managed")) }}true{{ end }}
{{- end }}
