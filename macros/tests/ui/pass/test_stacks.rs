// Other attributes before `#[runner::test]` are kept; `#[test]` comes last.
#[runner::test]
#[should_panic(expected = "boom")]
async fn panics() {
    panic!("boom");
}

#[runner::test]
#[ignore = "shows that attributes are kept"]
#[allow(unused_variables)]
async fn ignored() {
    let unused = 1;
}

#[cfg_attr(all(), runner::test)]
async fn through_cfg_attr() {}

fn main() {}
