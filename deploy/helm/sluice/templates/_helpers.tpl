{{/* The chart's name, cut to 63 characters. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's object name. */}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret that holds the admin token, the KEK and the provider keys. */}}
{{- define "sluice.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "sluice.fullname" .) }}
{{- end }}

{{/* "true" when the chart creates its own Secret. */}}
{{- define "sluice.createSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.adminToken .Values.secrets.kek .Values.secrets.providerKeys .Values.database.url) }}true{{ end }}
{{- end }}

{{/* "true" when the state is in PostgreSQL rather than the embedded SQLite. */}}
{{- define "sluice.hasDatabase" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* "true" when more than one pod may run at once. */}}
{{- define "sluice.multiNode" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled }}true{{ end }}
{{- end }}

{{/* "true" when /data is a PersistentVolumeClaim (SQLite with persistence). */}}
{{- define "sluice.persistent" -}}
{{- if and .Values.persistence.enabled (not (include "sluice.hasDatabase" .)) }}true{{ end }}
{{- end }}

{{/* The configuration file is mounted when given inline or as an existing ConfigMap. */}}
{{- define "sluice.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-config" (include "sluice.fullname" .)) }}
{{- end }}
{{- define "sluice.hasConfig" -}}
{{- if or .Values.config .Values.existingConfigMap }}true{{ end }}
{{- end }}

{{/* Sluice's shutdown drain in seconds (internal/app/serve.go). */}}
{{- define "sluice.drainSeconds" -}}30{{- end }}

{{/* Refuses values that cannot work, with the reason. */}}
{{- define "sluice.validate" -}}
{{- if and (include "sluice.multiNode" .) (not (include "sluice.hasDatabase" .)) }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled runs more than one replica, but without database.url or database.existingSecret each replica would have its own embedded SQLite (its own keys, limits and ledger): set a PostgreSQL URL, or disable autoscaling" }}
{{- else }}
{{- fail (printf "replicaCount is %d, but without database.url or database.existingSecret each replica would have its own embedded SQLite (its own keys, limits and ledger): set a PostgreSQL URL, or set replicaCount to 1" (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
{{- if and (include "sluice.multiNode" .) (not .Values.secrets.kek) (not .Values.secrets.existingSecret) }}
{{- fail "more than one replica needs one key-encryption key for all of them: set secrets.kek or secrets.existingSecret (otherwise each replica generates its own and cannot open the provider credentials the others stored)" }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- if and .Values.config .Values.existingConfigMap }}
{{- fail "set config or existingConfigMap, not both" }}
{{- end }}
{{- if and .Values.database.url .Values.database.existingSecret }}
{{- fail "set database.url or database.existingSecret, not both" }}
{{- end }}
{{- if and .Values.redis.addr .Values.redis.existingSecret }}
{{- fail "set redis.addr or redis.existingSecret, not both" }}
{{- end }}
{{- if and .Values.secrets.adminToken (lt (len .Values.secrets.adminToken) 16) }}
{{- fail "secrets.adminToken must be at least 16 characters" }}
{{- end }}
{{- $needed := add (int (include "sluice.drainSeconds" .)) (int .Values.preStopSleepSeconds) }}
{{- if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed Sluice's %ds shutdown drain plus preStopSleepSeconds (%d), or the kubelet kills it before the ledger is flushed" (int .Values.terminationGracePeriodSeconds) (int (include "sluice.drainSeconds" .)) (int .Values.preStopSleepSeconds)) }}
{{- end }}
{{- end }}
