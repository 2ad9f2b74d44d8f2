package export

import (
	"encoding/json"
	"fmt"

	"github.com/mailaudit/mailaudit/audit"
)

// recordJSON holds either schema: the mailbox fields and the admin ones.
type recordJSON struct {
	mailboxJSON
	Parameters         []audit.NameValue
	ModifiedProperties []audit.ModifiedProperty
}

// ParseJSON reads a record that the json format wrote (the HTTP API sends
// records so). Id, OrganizationId and OrganizationName are not part of a
// record: they derive from the organisation and are dropped.
func ParseJSON(b []byte) (*audit.Record, error) {
	var in recordJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("export: reading a record: %w", err)
	}
	created, err := audit.ParseTime(in.CreationTime)
	if err != nil {
		return nil, fmt.Errorf("export: reading a record: CreationTime: %w", err)
	}
	r := &audit.Record{
		SequenceNumber:         in.SequenceNumber,
		RecordType:             in.RecordType,
		CreationTime:           created,
		Operation:              in.Operation,
		ResultStatus:           in.ResultStatus,
		UserId:                 in.UserId,
		UserKey:                in.UserKey,
		UserType:               in.UserType,
		LogonType:              in.LogonType,
		LogonUserDisplayName:   in.LogonUserDisplayName,
		ExternalAccess:         in.ExternalAccess,
		MailboxGuid:            in.MailboxGuid,
		MailboxOwnerUPN:        in.MailboxOwnerUPN,
		ClientIPAddress:        in.ClientIPAddress,
		ClientInfoString:       in.ClientInfoString,
		ClientProcessName:      in.ClientProcessName,
		ClientVersion:          in.ClientVersion,
		ClientMachineName:      in.ClientMachineName,
		SessionId:              in.SessionId,
		OriginatingServer:      in.OriginatingServer,
		Folder:                 in.Folder,
		DestFolder:             in.DestFolder,
		DestMailboxId:          in.DestMailboxId,
		DestMailboxOwnerUPN:    in.DestMailboxOwnerUPN,
		AffectedItems:          in.AffectedItems,
		Item:                   in.Item,
		SendAsUserSmtp:         in.SendAsUserSmtp,
		SendOnBehalfOfUserSmtp: in.SendOnBehalfOfUserSmtp,
		Folders:                in.Folders,
		OperationCount:         in.OperationCount,
		OperationProperties:    in.OperationProperties,
		ObjectId:               in.ObjectId,
		Parameters:             in.Parameters,
		ModifiedProperties:     in.ModifiedProperties,
	}
	if r.ClientIPAddress == "" {
		r.ClientIPAddress = in.ClientIP
	}
	if in.CrossMailboxOperation != nil {
		r.CrossMailboxOperation = *in.CrossMailboxOperation
	}
	return r, nil
}
