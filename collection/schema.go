package collection

import (
	"fmt"
	"strings"

	"github.com/consign/consign"
	"github.com/consign/consign/collection/wql"
)

// SystemClass is the discovery class every resource has exactly one row of
// (S-COLL); it is the first class of every schema.
const SystemClass = "SMS_R_System"

// DefaultSchema returns the classes and properties ConfigMgr 2007 queries
// usually read, with ConfigMgr's names and types: SMS_R_System (discovery
// data) followed by the hardware and software inventory classes
// SMS_G_System_OPERATING_SYSTEM, _COMPUTER_SYSTEM, _SYSTEM,
// _ADD_REMOVE_PROGRAMS, _ADD_REMOVE_PROGRAMS_64, _LOGICAL_DISK, _PC_BIOS,
// _X86_PC_MEMORY, _NETWORK_ADAPTER_CONFIGURATION, _WORKSTATION_STATUS,
// _SERVICE and SMS_G_System_SoftwareFile.
//
// As in ConfigMgr, yes/no discovery properties (Client, Obsolete, Active,
// Decommissioned, …) are Integers holding 1 or 0, hardware inventory stores
// multi-valued WMI properties as one comma-separated String, and every class
// has ResourceID (SMS_R_System spells it ResourceId; names are
// case-insensitive). Sizes in SMS_G_System_LOGICAL_DISK are in MB.
func DefaultSchema() *wql.Schema {
	s, err := wql.NewSchema(defaultClasses()...)
	if err != nil {
		panic("collection: default schema: " + err.Error()) // a constant table; TestDefaultSchema keeps it valid
	}
	return s
}

// NewSchema returns DefaultSchema extended with the embedder's classes. A
// class whose name (case-insensitively) is already in the schema gains the
// given properties, so extra SMS_R_System discovery properties are passed as
// a Class named SMS_R_System; a property already present must repeat its
// type and arrayness. Any other class is added as a new inventory class, 0..n
// rows per device, given a ResourceID property if it lacks one.
func NewSchema(extra ...wql.Class) (*wql.Schema, error) {
	classes := defaultClasses()
	var p consign.Problems
	for _, x := range extra {
		field := fmt.Sprintf("Schema.Classes[%q]", x.Name)
		i := indexFold(len(classes), func(i int) string { return classes[i].Name }, x.Name)
		if i < 0 {
			classes = append(classes, x)
			continue
		}
		c := &classes[i]
		for _, prop := range x.Properties {
			j := indexFold(len(c.Properties), func(j int) string { return c.Properties[j].Name }, prop.Name)
			switch {
			case j < 0:
				c.Properties = append(c.Properties, prop)
			case c.Properties[j].Type != prop.Type || c.Properties[j].Array != prop.Array:
				p.Add(field+".Properties["+fmt.Sprintf("%q", prop.Name)+"]", "must keep the type it has in ConfigMgr's schema")
			}
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return wql.NewSchema(classes...)
}

// indexFold returns the first i < n whose name(i) equals s case-insensitively,
// or -1.
func indexFold(n int, name func(int) string, s string) int {
	for i := range n {
		if strings.EqualFold(name(i), s) {
			return i
		}
	}
	return -1
}

// defaultClasses returns a fresh copy of ConfigMgr's classes, so NewSchema may
// extend it.
func defaultClasses() []wql.Class {
	inv := func(name string, groups ...[]wql.Property) wql.Class {
		// Every hardware inventory class carries these (S-COLL, the
		// v_GS_* views): the resource, the instance group and revision, and
		// when the inventory row was taken.
		common := concat(ints("GroupID", "ResourceID", "RevisionID"), times("TimeStamp"))
		return wql.Class{Name: name, Properties: concat(append([][]wql.Property{common}, groups...)...)}
	}
	arp := strs("DisplayName", "InstallDate", "ProdID", "Publisher", "Version")
	return []wql.Class{
		{Name: SystemClass, Properties: concat(
			ints("Active", "AlwaysInternet", "Client", "ClientType", "Decommissioned", "InternetEnabled",
				"Obsolete", "ResourceId", "ResourceType", "SuppressAutoProvision", "Unknown", "UserAccountControl"),
			strs("ADSiteName", "ClientVersion", "CPUType", "DistinguishedName", "HardwareID",
				"LastLogonUserDomain", "LastLogonUserName", "Name", "NetbiosName", "OperatingSystemNameandVersion",
				"PreviousSMSUUID", "ResourceDomainORWorkgroup", "SID", "SMSUniqueIdentifier", "SNMPCommunityName"),
			times("CreationDate", "LastLogonTimestamp", "SMSUUIDChangeDate"),
			arrays(wql.String, "AgentName", "AgentSite", "IPAddresses", "IPSubnets", "IPv6Addresses", "IPv6Prefixes",
				"IPXAddresses", "IPXNetworkNumbers", "MACAddresses", "ResourceNames", "SecurityGroupName",
				"SMSAssignedSites", "SMSInstalledSites", "SMSResidentSites", "SystemContainerName",
				"SystemGroupName", "SystemOUName", "SystemRoles"),
			arrays(wql.DateTime, "AgentTime"),
		)},
		inv("SMS_G_System_OPERATING_SYSTEM",
			strs("BootDevice", "BuildNumber", "BuildType", "Caption", "CodeSet", "CountryCode", "CSDVersion",
				"Description", "Locale", "Manufacturer", "Name", "Organization", "RegisteredUser", "SerialNumber",
				"SystemDirectory", "Version", "WindowsDirectory"),
			ints("CurrentTimeZone", "FreePhysicalMemory", "FreeSpaceInPagingFiles", "FreeVirtualMemory",
				"OSLanguage", "OSProductSuite", "OSType", "ServicePackMajorVersion", "ServicePackMinorVersion",
				"TotalSwapSpaceSize", "TotalVirtualMemorySize", "TotalVisibleMemorySize"),
			times("InstallDate", "LastBootUpTime")),
		inv("SMS_G_System_COMPUTER_SYSTEM",
			strs("BootupState", "Description", "Domain", "Manufacturer", "Model", "Name", "Roles", "Status",
				"SystemType", "UserName"),
			ints("AdminPasswordStatus", "ChassisBootupState", "CurrentTimeZone", "DomainRole", "NumberOfProcessors")),
		inv("SMS_G_System_SYSTEM",
			strs("Domain", "Name", "SystemRole", "SystemType"),
			ints("DomainRole")),
		inv("SMS_G_System_ADD_REMOVE_PROGRAMS", arp),
		inv("SMS_G_System_ADD_REMOVE_PROGRAMS_64", arp),
		inv("SMS_G_System_LOGICAL_DISK",
			strs("Caption", "Description", "DeviceID", "FileSystem", "Name", "SystemName", "VolumeName",
				"VolumeSerialNumber"),
			ints("Access", "Availability", "Compressed", "DriveType", "FreeSpace", "Size")),
		inv("SMS_G_System_PC_BIOS",
			strs("BIOSVersion", "Manufacturer", "Name", "SerialNumber", "SMBIOSBIOSVersion", "Version"),
			times("ReleaseDate")),
		inv("SMS_G_System_X86_PC_MEMORY",
			ints("AvailableVirtualMemory", "TotalPageFileSpace", "TotalPhysicalMemory", "TotalVirtualMemory")),
		inv("SMS_G_System_NETWORK_ADAPTER_CONFIGURATION",
			strs("DefaultIPGateway", "Description", "DHCPServer", "DNSDomain", "DNSHostName", "IPAddress",
				"IPSubnet", "MACAddress", "ServiceName"),
			ints("DHCPEnabled", "Index", "IPEnabled")),
		inv("SMS_G_System_WORKSTATION_STATUS",
			times("LastHardwareScan")),
		inv("SMS_G_System_SERVICE",
			strs("Caption", "DisplayName", "Name", "PathName", "StartMode", "StartName", "State", "Status"),
			ints("Started")),
		// Software inventory has no GroupID or TimeStamp.
		{Name: "SMS_G_System_SoftwareFile", Properties: concat(
			strs("FileDescription", "FileName", "FilePath", "FileVersion"),
			ints("FileCount", "FileId", "FileSize", "ProductId", "ResourceID"),
			times("FileModifiedDate"))},
	}
}

func props(t wql.Type, array bool, names []string) []wql.Property {
	out := make([]wql.Property, len(names))
	for i, n := range names {
		out[i] = wql.Property{Name: n, Type: t, Array: array}
	}
	return out
}

func strs(names ...string) []wql.Property               { return props(wql.String, false, names) }
func ints(names ...string) []wql.Property               { return props(wql.Integer, false, names) }
func times(names ...string) []wql.Property              { return props(wql.DateTime, false, names) }
func arrays(t wql.Type, names ...string) []wql.Property { return props(t, true, names) }
func concat(groups ...[]wql.Property) (out []wql.Property) {
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}
