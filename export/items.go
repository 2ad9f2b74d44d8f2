package export

import (
	"iter"
	"strconv"

	"github.com/mailaudit/mailaudit/audit"
)

// sourceItems yields every item of a record, whichever field holds it, with
// the path of the folder it was in: its own parent folder when the source
// said so, else the folder of its aggregated-folder entry or of the record.
// Unlike audit.Record.Items it keeps the folder and builds no slice.
func sourceItems(r *audit.Record) iter.Seq2[*audit.Item, string] {
	return func(yield func(*audit.Item, string) bool) {
		folder := ""
		if r.Folder != nil {
			folder = r.Folder.Path
		}
		if r.Item != nil && !yield(r.Item, itemFolder(r.Item, folder)) {
			return
		}
		for i := range r.AffectedItems {
			if !yield(&r.AffectedItems[i], itemFolder(&r.AffectedItems[i], folder)) {
				return
			}
		}
		for i := range r.Folders {
			f := &r.Folders[i]
			for j := range f.FolderItems {
				if !yield(&f.FolderItems[j], itemFolder(&f.FolderItems[j], f.Path)) {
					return
				}
			}
		}
	}
}

func itemFolder(it *audit.Item, folder string) string {
	if it.ParentFolder != nil && it.ParentFolder.Path != "" {
		return it.ParentFolder.Path
	}
	return folder
}

// itemSubject is the ItemSubject of the views: the first subject among the
// items (aggregated records often know the first items only by message id),
// with a count of the others so that a group record does not pass for a
// single item.
func itemSubject(r *audit.Record) string {
	n, subject := 0, ""
	for it := range sourceItems(r) {
		if subject == "" {
			subject = it.Subject
		}
		n++
	}
	if n > 1 {
		more := "(+" + strconv.Itoa(n-1) + " more)"
		if subject == "" {
			return more
		}
		return subject + " " + more
	}
	return subject
}

// folderPath is the FolderPathName of the views. An aggregated record has
// its folders in Folders rather than Folder.
func folderPath(r *audit.Record) string {
	if r.Folder != nil {
		return r.Folder.Path
	}
	switch len(r.Folders) {
	case 0:
		return ""
	case 1:
		return r.Folders[0].Path
	}
	return r.Folders[0].Path + " (+" + strconv.Itoa(len(r.Folders)-1) + " more)"
}

func folderID(f *audit.Folder) string {
	if f == nil {
		return ""
	}
	return f.Id
}

func destFolderPath(r *audit.Record) string {
	if r.DestFolder == nil {
		return ""
	}
	return r.DestFolder.Path
}

// recordTypeName is the AuditLogRecordType name, which Exchange
// administrators know better than the number.
func recordTypeName(t audit.RecordType) string {
	switch t {
	case audit.ExchangeAdmin:
		return "ExchangeAdmin"
	case audit.ExchangeItem:
		return "ExchangeItem"
	case audit.ExchangeItemGroup:
		return "ExchangeItemGroup"
	case audit.ExchangeItemAggregated:
		return "ExchangeItemAggregated"
	case audit.ExchangeSearch:
		return "ExchangeSearch"
	}
	return strconv.Itoa(int(t))
}

// boolName writes booleans as PowerShell prints them.
func boolName(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
