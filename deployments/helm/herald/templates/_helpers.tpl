{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, plus the chart name unless the release name
already contains it. Role suffixes (-api, -worker, -ingest, -migrate) are appended to it, so
it is truncated to leave room for them.
*/}}
{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "herald.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels shared by every resource. */}}
{{- define "herald.labels" -}}
helm.sh/chart: {{ include "herald.chart" . }}
{{ include "herald.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: herald
{{- end }}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The image every role runs. */}}
{{- define "herald.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "herald.configMapName" -}}
{{- printf "%s-config" (include "herald.fullname" .) }}
{{- end }}

{{/* The Secret the roles read: the existing one, or the one this chart creates. */}}
{{- define "herald.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- printf "%s-secret" (include "herald.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The Secret the migrate hook reads. On a first install the hook runs before the release's
own Secret exists, so when the chart manages the secret it also renders a hook-only copy.
*/}}
{{- define "herald.migrateSecretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- printf "%s-migrate" (include "herald.fullname" .) }}
{{- end }}
{{- end }}

{{/* Data of the chart-managed Secret (base64, for the `data` field). */}}
{{- define "herald.secretData" -}}
{{- with .Values.secret.databaseUrl }}
{{ $.Values.secret.keys.databaseUrl }}: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.encryptionKey }}
{{ $.Values.secret.keys.encryptionKey }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/* HERALD_PUBLIC_URL: config.publicUrl, else the first ingress host. */}}
{{- define "herald.publicUrl" -}}
{{- if .Values.config.publicUrl }}
{{- .Values.config.publicUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := (first .Values.ingress.hosts).host }}
{{- $tls := false }}
{{- range .Values.ingress.tls }}
{{- if has $host .hosts }}{{ $tls = true }}{{ end }}
{{- end }}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host }}
{{- end }}
{{- end }}

{{/*
Non-secret HERALD_* settings as a YAML map (ConfigMap data; the migrate Job's env).
Empty values are left out so the binary's defaults apply.
*/}}
{{- define "herald.configData" -}}
{{- $c := .Values.config }}
{{- $data := dict
  "HERALD_TEMPORAL_ADDRESS" $c.temporal.address
  "HERALD_TEMPORAL_NAMESPACE" $c.temporal.namespace
  "HERALD_TEMPORAL_UI_URL" $c.temporal.uiUrl
  "HERALD_KAFKA_BROKERS" $c.kafka.brokers
  "HERALD_KAFKA_TOPIC" $c.kafka.topic
  "HERALD_KAFKA_DLQ_TOPIC" $c.kafka.dlqTopic
  "HERALD_KAFKA_GROUP" $c.kafka.group
  "HERALD_KAFKA_PARTITIONS" $c.kafka.partitions
  "HERALD_SHUTDOWN_TIMEOUT" $c.shutdownTimeout
  "HERALD_SHUTDOWN_DRAIN" $c.shutdownDrain
  "HERALD_SEGMENT_REFRESH" $c.segmentRefresh
  "HERALD_PUBLIC_URL" (include "herald.publicUrl" .)
  "HERALD_LOG_FORMAT" $c.logFormat
  "HERALD_LOG_LEVEL" $c.logLevel
  "HERALD_HTTP_ADDR" "0.0.0.0:8080"
  "HERALD_METRICS_ADDR" (printf "0.0.0.0:%v" .Values.metrics.port)
}}
{{- range $k, $v := $data }}
{{- if $v }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The two secret variables, from the chart's Secret or the existing one. */}}
{{- define "herald.secretEnv" -}}
{{- $name := index . 1 -}}
{{- with index . 0 }}
- name: HERALD_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ .Values.secret.keys.databaseUrl }}
- name: HERALD_ENCRYPTION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ .Values.secret.keys.encryptionKey }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the Deployments and the migrate Job. */}}
{{- define "herald.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A Herald role Deployment. Argument: dict with
  ctx  - the root context
  role - api | worker | ingest
  port - name of the container port the probes use (http or metrics)
*/}}
{{- define "herald.deployment" -}}
{{- $ := .ctx -}}
{{- $role := .role -}}
{{- $v := index $.Values $role -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "herald.fullname" $ }}-{{ $role }}
  labels:
    {{- include "herald.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $role }}
spec:
  replicas: {{ $v.replicas }}
  selector:
    matchLabels:
      {{- include "herald.selectorLabels" $ | nindent 6 }}
      app.kubernetes.io/component: {{ $role }}
  template:
    metadata:
      labels:
        {{- include "herald.labels" $ | nindent 8 }}
        app.kubernetes.io/component: {{ $role }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") $ | sha256sum }}
        {{- if not $.Values.secret.existingSecret }}
        checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") $ | sha256sum }}
        {{- end }}
        {{- if $.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $.Values.metrics.port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "herald.podSpecCommon" $ | trim | nindent 6 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $role }}
          image: {{ include "herald.image" $ }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args: [{{ $role | quote }}]
          ports:
            {{- if eq $role "api" }}
            - name: http
              containerPort: 8080
              protocol: TCP
            {{- end }}
            - name: metrics
              containerPort: {{ $.Values.metrics.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "herald.configMapName" $ }}
            {{- with $.Values.extraEnvFrom }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            {{- include "herald.secretEnv" (list $ (include "herald.secretName" $)) | trim | nindent 12 }}
            {{- with $.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ .port }}
            periodSeconds: {{ $.Values.probes.startup.periodSeconds }}
            failureThreshold: {{ $.Values.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ .port }}
            periodSeconds: {{ $.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $.Values.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ .port }}
            periodSeconds: {{ $.Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $.Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $.Values.probes.readiness.failureThreshold }}
          {{- with $v.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with $.Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        # The root filesystem is read-only; /tmp is the one writable place.
        - name: tmp
          emptyDir: {}
        {{- with $.Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
