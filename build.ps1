#Requires -Version 7.4
<#
.SYNOPSIS
    Builds QuantPS (and with -Test runs every test suite).

.DESCRIPTION
    ./build.ps1          dotnet build -c Release: leaves the importable module in out/QuantPS.
    ./build.ps1 -Test    also runs dotnet test on the solution, then the Pester tests in
                         tests/pester when Pester 5 or later is installed (skipped with a
                         warning otherwise). Fails (exit code 1) when anything fails.

.EXAMPLE
    ./build.ps1 -Test
    Import-Module ./out/QuantPS/QuantPS.psd1
#>
[CmdletBinding()]
param(
    # Run the xunit suites and the Pester tests after building.
    [switch] $Test,

    # Build configuration.
    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$solution = Join-Path $PSScriptRoot 'QuantPS.sln'
$moduleManifest = Join-Path $PSScriptRoot 'out/QuantPS/QuantPS.psd1'

function Invoke-Native {
    param([Parameter(Mandatory)] [string] $What, [Parameter(Mandatory)] [scriptblock] $Command)

    & $Command
    if ($LASTEXITCODE -ne 0) {
        throw "$What failed (exit code $LASTEXITCODE)."
    }
}

try {
    Invoke-Native 'dotnet build' { dotnet build $solution -c $Configuration --nologo }
    if (-not (Test-Path -LiteralPath $moduleManifest)) {
        throw "The build did not assemble $moduleManifest."
    }

    Write-Host "Module assembled: $(Split-Path -Parent $moduleManifest)"
    if (-not $Test) {
        return
    }

    Invoke-Native 'dotnet test' { dotnet test $solution -c $Configuration --no-build --nologo }

    $pester = Get-Module Pester -ListAvailable | Where-Object Version -GE ([version]'5.0') |
        Sort-Object Version -Descending | Select-Object -First 1
    if (-not $pester) {
        Write-Warning 'Pester 5 or later is not installed: skipping tests/pester (Install-Module Pester -MinimumVersion 5.0 -Scope CurrentUser).'
        return
    }

    # A child pwsh: the tests import the module, and a loaded binary module would lock out/QuantPS for the next build.
    $pesterScript = {
        param($PesterPath, $TestPath, $ResultPath)
        Import-Module $PesterPath -ErrorAction Stop
        $configuration = New-PesterConfiguration
        $configuration.Run.Path = $TestPath
        $configuration.Run.Exit = $true # exit code = failed count, as -CI does
        $configuration.Output.Verbosity = 'Detailed'
        if ($configuration.Output.PSObject.Properties['CIFormat']) {
            $configuration.Output.CIFormat = 'Auto' # GitHub Actions / Azure Pipelines annotations (Pester 5.4+)
        }
        $configuration.TestResult.Enabled = $true
        $configuration.TestResult.OutputPath = $ResultPath
        Invoke-Pester -Configuration $configuration
    }
    $pesterArguments = @($pester.Path, (Join-Path $PSScriptRoot 'tests/pester'), (Join-Path $PSScriptRoot 'TestResults/pester.xml'))
    Invoke-Native 'Pester' { & ([System.Environment]::ProcessPath) -NoProfile -NonInteractive -Command $pesterScript -args $pesterArguments }
}
catch {
    Write-Error -ErrorRecord $_ -ErrorAction Continue
    exit 1
}
