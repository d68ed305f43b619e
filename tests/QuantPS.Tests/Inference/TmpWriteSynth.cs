using Xunit;
namespace QuantPS.Tests.Engine;
public sealed class TmpWriteSynth
{
    [Fact]
    public void TmpWriteSynthModels()
    {
        foreach (var a in new[] { "gemma", "gemma2", "phi3", "qwen2" })
        {
            SyntheticArchitectures.Write("/work/ref-arch", a);
        }
    }
}
