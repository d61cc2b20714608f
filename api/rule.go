package api

// Rule is one ingress or egress rule of a policy or profile.
type Rule struct {
	Action      string      `json:"action"`
	IPVersion   *int        `json:"ipVersion,omitempty"`
	Protocol    *Protocol   `json:"protocol,omitempty"`
	NotProtocol *Protocol   `json:"notProtocol,omitempty"`
	ICMP        *ICMPFields `json:"icmp,omitempty"`
	NotICMP     *ICMPFields `json:"notICMP,omitempty"`
	Source      EntityRule  `json:"source,omitzero"`
	Destination EntityRule  `json:"destination,omitzero"`
}

// Rule actions.
const (
	ActionAllow = "Allow"
	ActionDeny  = "Deny"
	ActionLog   = "Log"
	ActionPass  = "Pass"
)

// ICMPFields matches an ICMP type and, optionally, code.
type ICMPFields struct {
	Type *int `json:"type,omitempty"`
	Code *int `json:"code,omitempty"`
}

// EntityRule matches the source or destination of traffic.
type EntityRule struct {
	Nets              []string `json:"nets,omitempty"`
	NotNets           []string `json:"notNets,omitempty"`
	Selector          string   `json:"selector,omitempty"`
	NotSelector       string   `json:"notSelector,omitempty"`
	NamespaceSelector string   `json:"namespaceSelector,omitempty"`
	Ports             []Port   `json:"ports,omitempty"`
	NotPorts          []Port   `json:"notPorts,omitempty"`
}

// IsZero lets encoding omit an empty EntityRule.
func (e EntityRule) IsZero() bool {
	return len(e.Nets) == 0 && len(e.NotNets) == 0 && e.Selector == "" && e.NotSelector == "" &&
		e.NamespaceSelector == "" && len(e.Ports) == 0 && len(e.NotPorts) == 0
}
