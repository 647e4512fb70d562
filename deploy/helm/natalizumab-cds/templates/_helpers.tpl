{{/*
Names and labels, plus the derived settings and the checks that refuse an unsafe release.
*/}}

{{- define "natalizumab-cds.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "natalizumab-cds.fullname" -}}
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

{{- define "natalizumab-cds.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "natalizumab-cds.selectorLabels" -}}
app.kubernetes.io/name: {{ include "natalizumab-cds.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "natalizumab-cds.labels" -}}
helm.sh/chart: {{ include "natalizumab-cds.chart" . }}
{{ include "natalizumab-cds.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "natalizumab-cds.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "natalizumab-cds.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "natalizumab-cds.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The chart's own Secret: the secret values given in values.yaml, as a dict key -> value.
A secret value not given there is read from existingSecret instead (when set).
*/}}
{{- define "natalizumab-cds.secretData" -}}
{{- $data := dict }}
{{- if and (eq .Values.database.kind "postgresql") .Values.database.url (not .Values.database.existingSecret) }}
{{- $_ := set $data "CDS_DATABASE_URL" .Values.database.url }}
{{- end }}
{{- if .Values.trustedIssuers }}
{{- $issuers := dict }}
{{- range .Values.trustedIssuers }}
{{- $_ := set $issuers .issuer .jwksUrl }}
{{- end }}
{{- $_ := set $data "CDS_TRUSTED_ISSUERS" (toJson $issuers) }}
{{- end }}
{{- if .Values.analyticsToken }}
{{- $_ := set $data "CDS_ANALYTICS_TOKEN" .Values.analyticsToken }}
{{- end }}
{{- toJson $data }}
{{- end }}

{{/*
One secret env var: from the chart's Secret when values.yaml gives it, else from
existingSecret (optional unless `required`), else not set at all.
Call with (dict "root" $ "key" "CDS_..." "required" bool).
*/}}
{{- define "natalizumab-cds.secretEnv" -}}
{{- $data := include "natalizumab-cds.secretData" .root | fromJson }}
{{- if hasKey $data .key }}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "natalizumab-cds.fullname" .root }}
      key: {{ .key }}
{{- else if .root.Values.existingSecret }}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.existingSecret }}
      key: {{ .key }}
      {{- if not .required }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/*
Most pods that can exist at once: maxReplicas with autoscaling, else replicaCount.
*/}}
{{- define "natalizumab-cds.maxPods" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.maxReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
CDS_JTI_STORE. A JWT id is remembered in the process that accepted it with "memory", so a
token replayed to another pod -- or to another worker process of the same pod -- would be
accepted again: with more than one process the shared database store is the only safe one.
*/}}
{{- define "natalizumab-cds.jtiStore" -}}
{{- $processes := mul (include "natalizumab-cds.maxPods" . | int) (int .Values.workers) }}
{{- $wanted := .Values.config.jtiStore }}
{{- if and (gt $processes 1) (eq $wanted "memory") }}
{{- fail (printf "config.jtiStore=memory with %d processes (pods x workers): a JWT replayed to another process would be accepted; use database (or leave it empty)" $processes) }}
{{- end }}
{{- if not (has $wanted (list "" "memory" "database")) }}
{{- fail (printf "config.jtiStore must be memory, database or empty, not %q" $wanted) }}
{{- end }}
{{- if $wanted }}{{ $wanted }}{{ else if gt $processes 1 }}database{{ else }}memory{{ end }}
{{- end }}

{{/* The TCP port of a URL: explicit, else the scheme's default. */}}
{{- define "natalizumab-cds.urlPort" -}}
{{- $u := urlParse . }}
{{- $explicit := regexFind ":[0-9]+$" $u.host | trimPrefix ":" }}
{{- if $explicit }}{{ $explicit }}{{ else if eq $u.scheme "https" }}443{{ else }}80{{ end }}
{{- end }}

{{/*
Refuse releases that would run but be wrong: data split across replicas, replays accepted,
every call rejected, or fetches silently blocked by the NetworkPolicy.
*/}}
{{- define "natalizumab-cds.validate" -}}
{{- $db := .Values.database }}
{{- $maxPods := include "natalizumab-cds.maxPods" . | int }}
{{- if not (has $db.kind (list "sqlite" "postgresql")) }}
{{- fail (printf "database.kind must be sqlite or postgresql, not %q" $db.kind) }}
{{- end }}
{{- if and (eq $db.kind "sqlite") (gt $maxPods 1) }}
{{- fail "database.kind=sqlite allows one replica only (each pod would keep its own feedback and replay store): set database.kind=postgresql for several replicas or autoscaling" }}
{{- end }}
{{- if eq $db.kind "postgresql" }}
{{- if not (or $db.url $db.existingSecret .Values.existingSecret) }}
{{- fail "database.kind=postgresql needs database.url, database.existingSecret or existingSecret (with CDS_DATABASE_URL)" }}
{{- end }}
{{- if and $db.url (not (regexMatch "^postgresql(\\+psycopg)?://" $db.url)) }}
{{- fail "database.url must be a PostgreSQL URL (postgresql:// or postgresql+psycopg://)" }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not $db.networkPolicyPeers) }}
{{- fail "networkPolicy.enabled needs database.networkPolicyPeers (where PostgreSQL is), or the pods could not reach their database" }}
{{- end }}
{{- end }}
{{- if .Values.config.authRequired }}
{{- if not (regexMatch "^https?://[^/]+" .Values.config.publicBaseUrl) }}
{{- fail "config.authRequired needs config.publicBaseUrl (the URL the EHR calls; the JWT audience): the service refuses to start without it" }}
{{- end }}
{{- if not (or .Values.trustedIssuers .Values.existingSecret) }}
{{- fail "config.authRequired needs trustedIssuers (or existingSecret with CDS_TRUSTED_ISSUERS): otherwise every call is refused" }}
{{- end }}
{{- end }}
{{- range $i, $server := .Values.fhirServers }}
{{- if not (regexMatch "^https?://[^/]+" $server.url) }}
{{- fail (printf "fhirServers[%d].url must be an http(s) URL" $i) }}
{{- end }}
{{- if and $.Values.networkPolicy.enabled (not $server.cidrs) }}
{{- fail (printf "fhirServers[%d] (%s) needs cidrs: NetworkPolicy cannot match DNS names, and without them every fetch would be blocked" $i $server.url) }}
{{- end }}
{{- end }}
{{- range $i, $issuer := .Values.trustedIssuers }}
{{- if not (and $issuer.issuer $issuer.jwksUrl) }}
{{- fail (printf "trustedIssuers[%d] needs issuer and jwksUrl" $i) }}
{{- end }}
{{- if and $.Values.networkPolicy.enabled (hasPrefix "https://" $issuer.jwksUrl) (not $issuer.cidrs) }}
{{- fail (printf "trustedIssuers[%d] (%s) needs cidrs for its https JWK Set: NetworkPolicy cannot match DNS names" $i $issuer.issuer) }}
{{- end }}
{{- end }}
{{- end }}
