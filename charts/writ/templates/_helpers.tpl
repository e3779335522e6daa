{{- /* Names and labels shared by the templates. */ -}}

{{- define "writ.labels" -}}
app.kubernetes.io/part-of: writ
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- /* writ.selector: the labels that select one component's pods; pass (list $ "component"). */ -}}
{{- define "writ.selector" -}}
app.kubernetes.io/name: writ
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "writ.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{- /* writ.podSpec: what every Writ pod shares; pass (list $ "component" "serviceAccount"). */ -}}
{{- define "writ.podSpec" -}}
{{- $ := index . 0 -}}
serviceAccountName: {{ index . 2 }}
automountServiceAccountToken: true
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- with $.Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "writ.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end }}

{{- /* writ.probes: the manager's /healthz and /readyz on the probe port. */ -}}
{{- define "writ.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: probes
  periodSeconds: 20
readinessProbe:
  httpGet:
    path: /readyz
    port: probes
  periodSeconds: 5
{{- end }}

{{- /* The agent the guard trusts: Writ's reconciler. webhook.ReconcilerServiceAccount. */ -}}
{{- define "writ.reconcilerUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:writ-reconciler
{{- end }}

{{- define "writ.auditStore" -}}
{{- if .Values.audit.postgres.enabled }}postgres{{ else if .Values.audit.persistence.enabled }}pvc{{ else }}emptyDir{{ end }}
{{- end }}
