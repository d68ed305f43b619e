namespace QuantPS.Gguf;

public sealed partial class GgufModel
{
    /// <summary>
    /// A model that exists only as a header: the metadata and tensor table a file would have,
    /// without data. Memory estimates plan hypothetical models with it (QuantizePlan reads no data).
    /// </summary>
    internal static unsafe GgufModel FromPlan(string location, GgufWritePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        GgufHeader header;
        fixed (byte* p = plan.Header)
        {
            // The header bytes are all there is; the file length is the one the plan would write.
            header = GgufHeaderParser.Parse(p, plan.Header.Length, plan.FileLength);
        }

        return new GgufModel([new GgufShard(location, header, null)], header.Tensors);
    }
}
