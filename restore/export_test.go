package restore

// PublishingName is the publishing directory's name, for tests that leave
// one as a killed restore would.
var PublishingName = publishingName
