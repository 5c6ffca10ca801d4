{{/* Names and labels. */}}
{{- define "adic-stream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "adic-stream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "adic-stream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "adic-stream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (edge, publisher). */}}
{{- define "adic-stream.selector" -}}
app.kubernetes.io/name: {{ include "adic-stream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "adic-stream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "adic-stream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "adic-stream.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The edge Service's name: also the `job` label Prometheus Operator gives its targets. */}}
{{- define "adic-stream.edgeService" -}}
{{- printf "%s-edge" (include "adic-stream.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Seconds the kubelet waits after SIGTERM: the preStop pause, the drain, and a margin. */}}
{{- define "adic-stream.terminationGrace" -}}
{{- add .Values.edge.preStopSeconds .Values.edge.drainGraceSeconds 10 -}}
{{- end -}}

{{/* Environment shared by every binary: NATS, the stream, logs. */}}
{{- define "adic-stream.commonEnv" -}}
- name: NATS_URL
  value: {{ .Values.nats.url | quote }}
{{- with .Values.nats.existingSecret }}
{{- if $.Values.nats.userKey }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.nats.userKey }}
{{- end }}
{{- if $.Values.nats.passwordKey }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.nats.passwordKey }}
{{- end }}
{{- if $.Values.nats.tokenKey }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.nats.tokenKey }}
{{- end }}
{{- end }}
{{- if .Values.nats.credsSecret }}
- name: NATS_CREDS
  value: /etc/adic/nats-creds/nats.creds
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: NATS_CA
  value: /etc/adic/nats-tls/ca.crt
- name: NATS_TLS
  value: "true"
{{- if .Values.nats.tlsClientCert }}
- name: NATS_CERT
  value: /etc/adic/nats-tls/tls.crt
- name: NATS_KEY
  value: /etc/adic/nats-tls/tls.key
{{- end }}
{{- end }}
- name: ADIC_STREAM
  value: {{ .Values.stream.name | quote }}
- name: ADIC_SUBJECT_PREFIX
  value: {{ .Values.stream.subjectPrefix | quote }}
- name: ADIC_STREAM_MAX_AGE
  value: {{ .Values.stream.maxAge | quote }}
- name: ADIC_STREAM_MAX_BYTES
  value: {{ .Values.stream.maxBytes | int64 | quote }}
- name: ADIC_STREAM_REPLICAS
  value: {{ .Values.stream.replicas | quote }}
- name: ADIC_STREAM_DUPLICATE_WINDOW
  value: {{ .Values.stream.duplicateWindow | quote }}
{{- end -}}

{{/* Secret volumes for NATS credentials and TLS, mounted by reference. */}}
{{- define "adic-stream.natsVolumeMounts" -}}
{{- if .Values.nats.credsSecret }}
- name: nats-creds
  mountPath: /etc/adic/nats-creds
  readOnly: true
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: nats-tls
  mountPath: /etc/adic/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "adic-stream.natsVolumes" -}}
{{- if .Values.nats.credsSecret }}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credsSecret }}
{{- end }}
{{- if .Values.nats.tlsSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tlsSecret }}
{{- end }}
{{- end -}}

{{/* The edge's volumes: NATS credentials and CA, its own certificate, the token keys. */}}
{{- define "adic-stream.edgeVolumeMounts" -}}
{{ include "adic-stream.natsVolumeMounts" . }}
{{- if .Values.edge.tlsSecret }}
- name: edge-tls
  mountPath: /etc/adic/edge-tls
  readOnly: true
{{- end }}
{{- if .Values.edge.auth.hs256SecretName }}
- name: auth-secret
  mountPath: /etc/adic/auth-secret
  readOnly: true
{{- end }}
{{- if .Values.edge.auth.publicKey }}
- name: auth-key
  mountPath: /etc/adic/auth-key
  readOnly: true
{{- end }}
{{- end -}}

{{- define "adic-stream.edgeVolumes" -}}
{{ include "adic-stream.natsVolumes" . }}
{{- if .Values.edge.tlsSecret }}
- name: edge-tls
  secret:
    secretName: {{ .Values.edge.tlsSecret }}
{{- end }}
{{- if .Values.edge.auth.hs256SecretName }}
- name: auth-secret
  secret:
    secretName: {{ .Values.edge.auth.hs256SecretName }}
    items:
      - key: {{ .Values.edge.auth.hs256SecretKey }}
        path: hs256
{{- end }}
{{- if .Values.edge.auth.publicKey }}
- name: auth-key
  configMap:
    name: {{ include "adic-stream.fullname" . }}-auth-key
{{- end }}
{{- end -}}
