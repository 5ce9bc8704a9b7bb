{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "kronjob.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, plus the chart name unless the
release name already contains it.
*/}}
{{- define "kronjob.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "kronjob.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the controller pods. Never change these on upgrade: a
Deployment's selector is immutable.
*/}}
{{- define "kronjob.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kronjob.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels put on every object.
*/}}
{{- define "kronjob.labels" -}}
helm.sh/chart: {{ include "kronjob.chart" . }}
{{ include "kronjob.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: kronjob
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Name of the ServiceAccount.
*/}}
{{- define "kronjob.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kronjob.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "kronjob.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Namespace of the leader-election Lease.
*/}}
{{- define "kronjob.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.leaseNamespace }}
{{- end }}

{{/*
The controller's permissions on the served kinds, Jobs and Events, shared by
the cluster-wide ClusterRole and the per-namespace Roles so both modes grant
exactly the same verbs. Each verb is one kronjob uses (docs/install.md
"Permissions"), and only for the kinds of .Values.serve: the default
(kronjobs) cannot even read batch/v1 CronJobs. Compared with upstream's
system:controller:cronjob-controller it has no update of a CronJob, no
update/patch of Jobs, no Pods (Jobs are deleted with propagationPolicy
Background, the garbage collector removes their Pods) and no core/v1 Events
(kronjob writes events.k8s.io/v1 only).
*/}}
{{- define "kronjob.workloadRules" -}}
{{- if has "cronjobs" .Values.serve }}
# patch: the kronjob.dev/run-now-handled annotation (a CronJob's status has
# no field for the run-now token handled).
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["batch"]
  resources: ["cronjobs/status"]
  verbs: ["patch"]
# A Job's ownerReference to its CronJob has blockOwnerDeletion: true; the
# OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened
# clusters) lets only who may update the owner's finalizers set it.
- apiGroups: ["batch"]
  resources: ["cronjobs/finalizers"]
  verbs: ["update"]
{{- end }}
{{- if has "kronjobs" .Values.serve }}
- apiGroups: ["kronjob.dev"]
  resources: ["kronjobs"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kronjob.dev"]
  resources: ["kronjobs/status"]
  verbs: ["patch"]
# blockOwnerDeletion on the Jobs' ownerReference to their KronJob, as above.
- apiGroups: ["kronjob.dev"]
  resources: ["kronjobs/finalizers"]
  verbs: ["update"]
{{- end }}
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Fail rendering on value combinations that cannot work.
*/}}
{{- define "kronjob.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 requires leaderElection.enabled=true: without it every replica would create Jobs" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (gt (int .Values.replicaCount) 1) (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" }}
{{- end }}
{{- end }}
