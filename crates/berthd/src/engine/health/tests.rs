use super::*;

fn hc(test: &[&str]) -> HealthConfig {
    HealthConfig { test: Some(test.iter().map(|s| s.to_string()).collect()), ..Default::default() }
}

#[test]
fn dockers_limits_and_types_are_checked() {
    let err = |h: HealthConfig| validate(Some(&h)).unwrap_err().to_string();
    assert!(validate(None).is_ok());
    assert!(validate(Some(&hc(&["NONE"]))).is_ok());
    assert!(validate(Some(&hc(&[]))).is_ok(), "an empty test inherits the image's");
    assert!(validate(Some(&hc(&["CMD-SHELL", "true"]))).is_ok());
    let short = HealthConfig { interval: Some(999_999), ..hc(&["CMD", "true"]) };
    assert_eq!(err(short), "Interval in Healthcheck cannot be less than 1ms");
    let negative = HealthConfig { timeout: Some(-5), ..hc(&["CMD", "true"]) };
    assert_eq!(err(negative), "Timeout in Healthcheck cannot be less than 1ms");
    let retries = HealthConfig { retries: Some(-1), ..hc(&["CMD", "true"]) };
    assert_eq!(err(retries), "Retries in Healthcheck cannot be negative");
    assert!(err(hc(&["HTTP", "/"])).contains("NONE, CMD or CMD-SHELL"));
    assert!(err(hc(&["CMD"])).contains("needs a command"));
}

#[test]
fn the_images_check_fills_what_was_not_given() {
    let img = berth_image::HealthConfig {
        test: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
        interval: 5_000_000_000,
        retries: 7,
        ..Default::default()
    };
    let mut none = None;
    merge(&mut none, Some(&img));
    assert_eq!(none.as_ref().unwrap().test.as_deref().unwrap(), img.test.as_slice());
    assert_eq!(none.unwrap().interval, Some(5_000_000_000));
    let mut given = Some(HealthConfig { interval: Some(1_000_000_000), ..hc(&[]) });
    merge(&mut given, Some(&img));
    let g = given.unwrap();
    assert_eq!((g.interval, g.retries), (Some(1_000_000_000), Some(7)));
    assert_eq!(g.test.unwrap()[1], "curl -f localhost");
    // --no-healthcheck keeps the image's check from running.
    let mut off = Some(hc(&["NONE"]));
    merge(&mut off, Some(&img));
    assert_eq!(off.unwrap().test.unwrap(), ["NONE"]);
}

#[test]
fn probe_commands_follow_the_test_type() {
    assert_eq!(probe_of(None), None);
    assert_eq!(probe_of(Some(&hc(&["CMD", "cat", "/ok"]))).unwrap(), ["cat", "/ok"]);
    assert_eq!(probe_of(Some(&hc(&["CMD-SHELL", "test -f /ok"]))).unwrap(), ["/bin/sh", "-c", "test -f /ok"]);
    assert_eq!(probe_of(Some(&hc(&["NONE"]))), None);
    assert_eq!(probe_of(Some(&hc(&[]))), None);
}
