package api

// FelixConfiguration holds cluster-wide (name "default") or per-node ("node.<name>") felix settings.
// Every field is optional; felix applies its own default for an unset field.
type FelixConfiguration struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       FelixConfigurationSpec `json:"spec"`
}

// FelixConfigurationSpec is the spec of a FelixConfiguration.
type FelixConfigurationSpec struct {
	IPv6Support                 *bool        `json:"ipv6Support,omitempty"`
	RouteRefreshInterval        *Duration    `json:"routeRefreshInterval,omitempty"`
	IptablesRefreshInterval     *Duration    `json:"iptablesRefreshInterval,omitempty"`
	IpsetsRefreshInterval       *Duration    `json:"ipsetsRefreshInterval,omitempty"`
	IptablesLockTimeout         *Duration    `json:"iptablesLockTimeout,omitempty"`
	InterfacePrefix             string       `json:"interfacePrefix,omitempty"`
	ChainInsertMode             string       `json:"chainInsertMode,omitempty"`
	DefaultEndpointToHostAction string       `json:"defaultEndpointToHostAction,omitempty"`
	IptablesFilterAllowAction   string       `json:"iptablesFilterAllowAction,omitempty"`
	IptablesMarkMask            *uint32      `json:"iptablesMarkMask,omitempty"`
	IptablesBackend             string       `json:"iptablesBackend,omitempty"` // Auto (default), NFT or Legacy
	LogPrefix                   string       `json:"logPrefix,omitempty"`
	LogSeverityScreen           string       `json:"logSeverityScreen,omitempty"`
	IPIPEnabled                 *bool        `json:"ipipEnabled,omitempty"`
	IPIPMTU                     *int         `json:"ipipMTU,omitempty"`
	VXLANEnabled                *bool        `json:"vxlanEnabled,omitempty"`
	VXLANVNI                    *int         `json:"vxlanVNI,omitempty"`
	VXLANPort                   *int         `json:"vxlanPort,omitempty"`
	VXLANMTU                    *int         `json:"vxlanMTU,omitempty"`
	ReportingInterval           *Duration    `json:"reportingInterval,omitempty"`
	HealthEnabled               *bool        `json:"healthEnabled,omitempty"`
	HealthHost                  string       `json:"healthHost,omitempty"`
	HealthPort                  *int         `json:"healthPort,omitempty"`
	PrometheusMetricsEnabled    *bool        `json:"prometheusMetricsEnabled,omitempty"`
	PrometheusMetricsPort       *int         `json:"prometheusMetricsPort,omitempty"`
	FailsafeInboundHostPorts    *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`
	FailsafeOutboundHostPorts   *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`
}

// ProtoPort is a protocol and port pair, used for failsafe ports.
type ProtoPort struct {
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
}
