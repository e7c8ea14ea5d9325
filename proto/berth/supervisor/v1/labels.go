package supervisorv1

// DistributionSourceLabelPrefix starts the content labels (ContentInfo.labels)
// that name, per registry domain (the rest of the key), the comma-separated
// repositories a blob was pulled from or pushed to. The supervisor writes
// them; the engine reads an image config's to tell where the image came
// from, so the spelling is part of the API between the two.
const DistributionSourceLabelPrefix = "berth.distribution.source."
